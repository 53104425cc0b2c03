-- The case study's 8-column question for one state, on each layout. Athena scanned 30.85 GB on the gzip CSV,
-- 1.75 GB on Parquet (the 8 columns and State), and 0.18 GB on the table bucketed by state (one bucket's file).
--
--   tarn -f queries/consumer_header/06_eight_columns.sql --var state=WY

SELECT count(DISTINCT HouseholdID) AS households, count(PersonID) AS people, count(FirstName) AS first_names,
       count(LastName) AS last_names, count(HouseNumber) AS house_numbers, count(StreetName) AS streets,
       count(City) AS cities, count(ZipCode) AS zip_codes
FROM "${database:-sf-digital-transformation}"."consumer_raw" WHERE State = '${state:-CA}';

SELECT count(DISTINCT HouseholdID) AS households, count(PersonID) AS people, count(FirstName) AS first_names,
       count(LastName) AS last_names, count(HouseNumber) AS house_numbers, count(StreetName) AS streets,
       count(City) AS cities, count(ZipCode) AS zip_codes
FROM "${database:-sf-digital-transformation}"."consumer_2020_03_all_cols_parquet" WHERE State = '${state:-CA}';

SELECT count(DISTINCT HouseholdID) AS households, count(PersonID) AS people, count(FirstName) AS first_names,
       count(LastName) AS last_names, count(HouseNumber) AS house_numbers, count(StreetName) AS streets,
       count(City) AS cities, count(ZipCode) AS zip_codes
FROM "${database:-sf-digital-transformation}"."consumer_2020_03_parquet_state_buckets" WHERE State = '${state:-CA}';
