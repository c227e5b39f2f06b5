"""bghop.synthesis"""
