-- An incoming -> processed pipeline: the table `tarn ingest` loads, and the checks to run after each load.
--
--   tarn run queries/ingest/events.sql --var location=s3://lake/raw/events/          # once: the table
--   tarn ingest s3://landing/incoming/events/ --into raw.events \
--     --processed s3://landing/processed/events/ --errors s3://landing/error/events/ --watch 30s
--   tarn run queries/ingest/events.sql --var location=s3://lake/raw/events/          # any time: the checks
--   tarn -c 'SHOW LOADS raw.events LIMIT 20'
--   tarn -c 'OPTIMIZE raw.events'                  # nightly: the day's small files into a few large ones
--
-- Files land as JSON lines (gzip or not) under incoming/events/dt=YYYY-MM-DD/; the dt folder becomes the partition.

CREATE DATABASE IF NOT EXISTS raw;

CREATE EXTERNAL TABLE IF NOT EXISTS raw.events (
  event_id string,
  user_id bigint,
  kind string,
  amount decimal(12, 2),
  at timestamp
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION '${location}';

-- Loading is exactly once: a duplicate here means the same event was sent twice, not loaded twice.
CHECK 'each event once' AS
SELECT event_id, count(*) AS copies FROM raw.events GROUP BY event_id HAVING count(*) > 1;

CHECK 'every event has a user and a time' AS
SELECT dt, count(*) AS bad FROM raw.events WHERE user_id IS NULL OR at IS NULL GROUP BY dt;

SELECT dt, count(*) AS events, sum(amount) AS amount FROM raw.events GROUP BY dt ORDER BY dt;
