"""Running a matrix: cells from a config (`matrix`), one cell trained and evaluated (`cell`,
`train`, `evaluate`), all pending cells on an executor (`runner`, `executors/`), stored cells
measured again (`reevaluate`)."""
