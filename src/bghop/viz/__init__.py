"""bghop.viz"""
