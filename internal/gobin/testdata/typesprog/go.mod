module example.com/typesprog

go 1.18
