"""The learning side's glue between the warehouse and models/: one train-and-register path and one module per model."""
