# Number and date formats for the English UI: one format everywhere (issue 15), the month as a word so no reader
# mistakes 04/12 for April 12 or December 4.
DATE_FORMAT = "F j, Y"
DATETIME_FORMAT = "M j, Y H:i:s"
SHORT_DATE_FORMAT = "M j, Y"
SHORT_DATETIME_FORMAT = "M j, Y H:i"
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
FIRST_DAY_OF_WEEK = 1
