"""bghop.train"""
