"""bghop.data"""
