-- The monthly ETL of the case study as one script: register the delivery, rebuild the month's curated Parquet
-- table, check the data, and only then point the production table at it.
--
--   tarn run queries/consumer_header/workflow.sql --var month=2020_03 \
--     --var location=s3://consumer/intake/2020-03/ \
--     --var curated_location=s3://consumer/curated/2020-03/
--
-- Any failing statement stops the run with exit code 1. A CHECK fails when its query returns `false`, or, for a
-- query that returns rows, any row at all (the rows are the ones that break the rule; the error shows a few). So a
-- bad delivery stops before the publish step and `consumer` keeps pointing at the last good month.

CREATE DATABASE IF NOT EXISTS "${database:-sf-digital-transformation}";

-- 1. This month's delivery, as delivered.
CREATE EXTERNAL TABLE IF NOT EXISTS "${database:-sf-digital-transformation}"."consumer_raw_${month}" (
  `HouseholdID` bigint,
  `PersonID`    bigint,
  `FirstName`   string,
  `LastName`    string,
  `State`       string,
  `ZipCode`     string,
  `Income`      double,
  `BirthDate`   date
)
ROW FORMAT DELIMITED FIELDS TERMINATED BY '|'
STORED AS TEXTFILE
LOCATION '${location}'
TBLPROPERTIES ('skip.header.line.count'='1');

-- 2. A re-run replaces the month: drop its curated table and the files tarn wrote for it.
DROP TABLE IF EXISTS "${database:-sf-digital-transformation}"."consumer_curated_${month}" PURGE;

-- 3. Curate: Parquet with Snappy, as in the case study.
CREATE TABLE "${database:-sf-digital-transformation}"."consumer_curated_${month}"
WITH (format = 'PARQUET', parquet_compression = 'SNAPPY', external_location = '${curated_location}')
AS SELECT HouseholdID, PersonID, FirstName, LastName, State, ZipCode, Income, BirthDate
FROM "${database:-sf-digital-transformation}"."consumer_raw_${month}";

-- 4. Data-quality checks on what was written.
CHECK 'every row has a household' AS
SELECT PersonID, State FROM "${database:-sf-digital-transformation}"."consumer_curated_${month}"
WHERE HouseholdID IS NULL;

CHECK 'every delivered row was curated' AS
SELECT (SELECT count(*) FROM "${database:-sf-digital-transformation}"."consumer_curated_${month}")
     = (SELECT count(*) FROM "${database:-sf-digital-transformation}"."consumer_raw_${month}");

CHECK 'states are US states' AS
SELECT DISTINCT State FROM "${database:-sf-digital-transformation}"."consumer_curated_${month}"
WHERE State IS NULL OR State NOT IN ('AK', 'AL', 'AR', 'AZ', 'CA', 'CO', 'CT', 'DC', 'DE', 'FL', 'GA', 'HI', 'IA',
  'ID', 'IL', 'IN', 'KS', 'KY', 'LA', 'MA', 'MD', 'ME', 'MI', 'MN', 'MO', 'MS', 'MT', 'NC', 'ND', 'NE', 'NH', 'NJ',
  'NM', 'NV', 'NY', 'OH', 'OK', 'OR', 'PA', 'RI', 'SC', 'SD', 'TN', 'TX', 'UT', 'VA', 'VT', 'WA', 'WI', 'WV', 'WY');

CHECK 'incomes are plausible' AS
SELECT HouseholdID, Income FROM "${database:-sf-digital-transformation}"."consumer_curated_${month}"
WHERE Income < 0 OR Income > 10000000;

-- 5. Publish: the production table now reads this month's curated files (its old entry only is dropped).
DROP TABLE IF EXISTS "${database:-sf-digital-transformation}"."consumer";
CREATE EXTERNAL TABLE "${database:-sf-digital-transformation}"."consumer" (
  `HouseholdID` bigint,
  `PersonID`    bigint,
  `FirstName`   string,
  `LastName`    string,
  `State`       string,
  `ZipCode`     string,
  `Income`      double,
  `BirthDate`   date
)
STORED AS PARQUET
LOCATION '${curated_location}';
