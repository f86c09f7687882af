package config

// LogFormat is the format of the agent's log lines (log_format).
type LogFormat string

const (
	// LogFormatText is hclog's human-readable format, one line per record
	// (the default).
	LogFormatText LogFormat = "text"
	// LogFormatJSON writes one JSON object per line (hclog's JSONFormat),
	// for log shippers.
	LogFormatJSON LogFormat = "json"
)
