"""The Teacher page's sections that steer a lesson."""
