"""Storage: one SQLAlchemy engine per database URL, for every shared record.
"""
