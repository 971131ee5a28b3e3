// CRC32C (being written: issue 2).
