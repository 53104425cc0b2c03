-- The same rows as Parquet partitioned by state (one folder per state, `state=CA/`): a one-state query lists and
-- reads only its folder. Compare with 04's 60 Hive buckets, where states share files.
--
--   tarn -f queries/consumer_header/07_parquet_state_partitions.sql --var partitions_location=./out/by-state/

CREATE TABLE "${database:-sf-digital-transformation}"."consumer_2020_03_parquet_by_state"
WITH (
  format = 'PARQUET',
  external_location = '${partitions_location:-s3://consumer/2020-03/consumer-parquet-by-state/}',
  parquet_compression = 'SNAPPY',
  partitioned_by = ARRAY['state']
)
-- Partition columns come last, as Athena requires (`* EXCLUDE` is DataFusion's; in Athena list the 399 columns).
AS SELECT * EXCLUDE (state), State FROM "${database:-sf-digital-transformation}"."consumer_2020_03_all_cols_parquet";
