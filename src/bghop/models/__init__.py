"""bghop.models"""
