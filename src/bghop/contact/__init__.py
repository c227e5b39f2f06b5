"""bghop.contact"""
