// RecordBatch v2 codec (being written: issue 2).
