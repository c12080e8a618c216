// Command check validates every system's deployment files (level-0 compose,
// level-1 and level-2 kustomizations) without a cluster or Docker engine.
//
//	cd deploy/check && GOWORK=off go run . [-root DIR]
//
// It exits 1 when there is any finding, 2 when it cannot run.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/hyperscaledesignhub/DesignSystems/deploy/check/internal/check"
)

func main() {
	root := flag.String("root", "", "repository root (default: the folder above that holds go.work)")
	flag.Parse()
	n, err := run(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploy check:", err)
		os.Exit(2)
	}
	if n > 0 {
		fmt.Printf("deploy check: %d findings\n", n)
		os.Exit(1)
	}
	fmt.Println("deploy check: no findings")
}

// run checks root and prints the findings; it returns how many there were.
func run(root string) (int, error) {
	if root == "" {
		r, err := check.FindRoot(".")
		if err != nil {
			return 0, err
		}
		root = r
	}
	findings, err := check.Run(root, os.Stdout)
	for _, f := range findings {
		fmt.Println(f)
	}
	return len(findings), err
}
