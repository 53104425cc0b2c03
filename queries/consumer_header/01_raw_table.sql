-- The partner delivery as Athena sees it: gzip, pipe-delimited CSV with a header row, one folder of parts.
--
--   tarn -f queries/consumer_header/01_raw_table.sql
--   tarn -f queries/consumer_header/01_raw_table.sql --var location=./data/intake/ --var database=scratch
--
-- The columns are those tarn-fixtures writes (HouseholdID ... BirthDate); LOCATION may be s3://... or a folder.

CREATE DATABASE IF NOT EXISTS "${database:-sf-digital-transformation}";

CREATE EXTERNAL TABLE IF NOT EXISTS "${database:-sf-digital-transformation}"."consumer_raw" (
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
LOCATION '${location:-s3://consumer/intake/}'
TBLPROPERTIES ('skip.header.line.count'='1', 'classification'='csv');
