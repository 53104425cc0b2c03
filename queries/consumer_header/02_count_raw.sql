-- The case study's first measurement: counting rows reads every byte of the gzip CSV.
SELECT count(HouseholdID) FROM "${database:-sf-digital-transformation}"."consumer_raw";
