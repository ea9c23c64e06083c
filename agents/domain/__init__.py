"""Pure domain logic: state and functions, no faust, kafka or cassandra imports."""
