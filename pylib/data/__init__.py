"""pylib.data"""
