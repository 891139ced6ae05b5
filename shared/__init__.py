"""What every casework service imports: contracts, settings, logging and the reliable-processing kit."""
