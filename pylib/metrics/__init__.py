"""pylib.metrics"""
