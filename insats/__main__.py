from insats.cli import main

main()
