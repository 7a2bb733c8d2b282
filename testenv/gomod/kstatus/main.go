// Command kstatus prints what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status, the code Flux's
// health checks run) computes for one Kubernetes object, read as JSON or YAML from a file or stdin.
//
// Usage: kstatus [FILE|-]
//
// It prints one JSON line, {"status": "...", "message": "..."}. An API server's NotFound reply (a
// v1 Status with reason NotFound, what a GET of a deleted object returns) prints NotFound, as
// kstatus's status readers report an object that is gone.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type result struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	input := stdin
	switch {
	case len(args) > 1:
		return fmt.Errorf("usage: kstatus [FILE|-]")
	case len(args) == 1 && args[0] != "-":
		file, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer file.Close()
		input = file
	}
	data, err := io.ReadAll(input)
	if err != nil {
		return err
	}
	// YAML is a superset of JSON: one conversion reads both.
	asJSON, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fmt.Errorf("not JSON or YAML: %w", err)
	}
	object := &unstructured.Unstructured{}
	// The unstructured JSON scheme reads whole numbers as int64, as a client reading from an API
	// server does, so kstatus's generation checks see what they see in Flux.
	if err := object.UnmarshalJSON(asJSON); err != nil {
		return fmt.Errorf("not a Kubernetes object: %w", err)
	}
	var out result
	if object.GetAPIVersion() == "v1" && object.GetKind() == "Status" {
		reason, _, _ := unstructured.NestedString(object.Object, "reason")
		if reason != "NotFound" {
			return fmt.Errorf("the API server replied %s: %v", reason, object.Object["message"])
		}
		out = result{Status: status.NotFoundStatus.String(), Message: "Resource not found"}
	} else {
		computed, err := status.Compute(object)
		if err != nil {
			return err
		}
		out = result{Status: computed.Status.String(), Message: computed.Message}
	}
	return json.NewEncoder(stdout).Encode(out)
}
