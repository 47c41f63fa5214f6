"""The month-end fixed-asset depreciation job."""
