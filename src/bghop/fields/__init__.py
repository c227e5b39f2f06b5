"""bghop.fields"""
