"""The accounting application: fixed assets, depreciation, periods and the asset import."""
