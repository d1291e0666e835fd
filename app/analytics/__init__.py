"""Team KPIs and intervention effectiveness."""
