"""bghop.cli"""
