-- One state, on each layout: the bytes scanned (and the bill) fall from every byte of the CSV, to two columns of the
-- Parquet files, to two columns of one bucket's file.

SELECT count(PersonID) FROM "${database:-sf-digital-transformation}"."consumer_raw" WHERE State = '${state:-CA}';
SELECT count(PersonID) FROM "${database:-sf-digital-transformation}"."consumer_2020_03_all_cols_parquet" WHERE State = '${state:-CA}';
SELECT count(PersonID) FROM "${database:-sf-digital-transformation}"."consumer_2020_03_parquet_state_buckets" WHERE State = '${state:-CA}';
