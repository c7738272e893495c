from bisect_runner.cli import run

run()
