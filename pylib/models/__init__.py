"""pylib.models"""
