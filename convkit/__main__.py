from convkit.cli.main import main

main()
