-- The consumer header as a Delta table, and the corrections a month brings, which a Hive table over files cannot
-- take: rows withdrawn, values re-based, and the delivery as it arrived still readable by version.
--
--   tarn -f queries/consumer_header/08_delta_corrections.sql --var delta_location=./out/consumer-delta/

CREATE TABLE "${database:-sf-digital-transformation}"."consumer_2020_03_delta"
WITH (
  table_type = 'DELTA',
  location = '${delta_location:-s3://consumer/2020-03/consumer-delta/}',
  partitioned_by = ARRAY['state']
)
AS SELECT HouseholdID, PersonID, FirstName, LastName, ZipCode, Income, State
FROM "${database:-sf-digital-transformation}"."consumer_2020_03_all_cols_parquet";

-- A partner withdrew its Wyoming households.
DELETE FROM "${database:-sf-digital-transformation}"."consumer_2020_03_delta" WHERE state = 'WY';

-- Incomes in California are re-based by 3%.
UPDATE "${database:-sf-digital-transformation}"."consumer_2020_03_delta"
SET income = income * 1.03
WHERE state = 'CA';

SELECT
  (SELECT count(*) FROM "${database:-sf-digital-transformation}"."consumer_2020_03_delta") AS rows_now,
  (SELECT count(*) FROM "${database:-sf-digital-transformation}"."consumer_2020_03_delta" FOR VERSION AS OF 0)
    AS rows_delivered;

DESCRIBE HISTORY "${database:-sf-digital-transformation}"."consumer_2020_03_delta";
