"""Cross-county scoring (考核评分): rules as data, counts in SQL, points in pure code, explained record by record."""
