from simasn_cli.main import run

run()
