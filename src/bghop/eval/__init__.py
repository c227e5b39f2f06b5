"""bghop.eval"""
