"""bghop.core"""
