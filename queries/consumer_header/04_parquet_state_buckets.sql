-- The case study's third step: Parquet bucketed by state into 60 buckets (Hive's hash, as Athena writes it). A
-- query for one state then reads only that state's bucket file.
--
--   tarn -f queries/consumer_header/04_parquet_state_buckets.sql --var buckets_location=./out/buckets/

CREATE TABLE "${database:-sf-digital-transformation}"."consumer_2020_03_parquet_state_buckets"
WITH (
  format = 'PARQUET',
  external_location = '${buckets_location:-s3://consumer/2020-03/consumer-parquet-state-buckets/}',
  parquet_compression = 'SNAPPY',
  bucketed_by = ARRAY['state'],
  bucket_count = 60
)
AS SELECT * FROM "${database:-sf-digital-transformation}"."consumer_2020_03_all_cols_parquet";
