# Number and date formats for the Spanish UI. Django's generic "es" uses a non-breaking space between
# thousands; Colombia (the default market: TIME_ZONE America/Bogota, currency COP) writes 178.000,00.
DATE_FORMAT = "j \\d\\e F \\d\\e Y"
DATETIME_FORMAT = "d/m/Y H:i:s"
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
DECIMAL_SEPARATOR = ","
THOUSAND_SEPARATOR = "."
NUMBER_GROUPING = 3
FIRST_DAY_OF_WEEK = 1  # Monday
