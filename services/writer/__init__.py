"""Writer: stores sanitized records in DynamoDB and counts them per dataset."""
