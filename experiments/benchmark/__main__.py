from experiments.benchmark.records import main

main()
