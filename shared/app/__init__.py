"""What every signstream process is built from.

Settings, command-line arguments, errors, logs, atomic files, deadlines and child processes.
"""
