"""bghop.geometry"""
