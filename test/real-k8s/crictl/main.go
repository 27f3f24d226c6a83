// kk-crictl stands in for cri-tools' crictl, which Debian does not ship. It implements only what
// kubeadm v1.20 (cmd/kubeadm/app/util/runtime), kk-action's diagnostics and the real-Kubernetes tests
// call: info, version, pods, ps, stopp, rmp, pull, inspecti, images, with -r/--runtime-endpoint,
// -i/--image-endpoint and --timeout, and runtime-endpoint from /etc/crictl.yaml as crictl reads it.
// It is built inside the Kubernetes v1.20.2 tree against its vendored CRI client (v1alpha2).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1alpha2"
)

type options struct {
	runtime, image string
	timeout        time.Duration
	args           []string
}

func main() {
	opts, err := parse(os.Args[1:])
	if err == nil {
		err = run(opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crictl:", err)
		os.Exit(1)
	}
}

func parse(argv []string) (options, error) {
	o := options{timeout: 2 * time.Second}
	o.runtime = endpointFromConfig()
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		value := func() (string, error) {
			if k := strings.IndexByte(a, '='); k > 0 {
				return a[k+1:], nil
			}
			if i+1 >= len(argv) {
				return "", fmt.Errorf("flag %s needs a value", a)
			}
			i++
			return argv[i], nil
		}
		name := a
		if k := strings.IndexByte(a, '='); k > 0 {
			name = a[:k]
		}
		var err error
		switch name {
		case "-r", "--runtime-endpoint":
			o.runtime, err = value()
		case "-i", "--image-endpoint":
			o.image, err = value()
		case "-t", "--timeout":
			var v string
			if v, err = value(); err == nil {
				o.timeout, err = time.ParseDuration(v)
			}
		default:
			o.args = append(o.args, a)
		}
		if err != nil {
			return o, err
		}
	}
	if o.image == "" {
		o.image = o.runtime
	}
	if o.runtime == "" {
		return o, fmt.Errorf("no runtime endpoint: give -r or runtime-endpoint in /etc/crictl.yaml")
	}
	if len(o.args) == 0 {
		return o, fmt.Errorf("no command (info, version, pods, ps, stopp, rmp, pull, inspecti, images)")
	}
	return o, nil
}

// endpointFromConfig reads "runtime-endpoint: X" from /etc/crictl.yaml, as crictl does.
func endpointFromConfig() string {
	f, err := os.Open("/etc/crictl.yaml")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if strings.HasPrefix(line, "runtime-endpoint:") {
			return strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "runtime-endpoint:")), `"'`)
		}
	}
	return ""
}

func dial(endpoint string, timeout time.Duration) (*grpc.ClientConn, error) {
	path := strings.TrimPrefix(endpoint, "unix://")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return grpc.DialContext(ctx, path, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}))
}

func flags(args []string) (rest []string, quiet, all bool) {
	for _, a := range args {
		switch a {
		case "-q", "--quiet":
			quiet = true
		case "-a", "--all":
			all = true
		default:
			rest = append(rest, a)
		}
	}
	return
}

func run(o options) error {
	conn, err := dial(o.runtime, o.timeout)
	if err != nil {
		return fmt.Errorf("connect to %s: %v", o.runtime, err)
	}
	defer conn.Close()
	imageConn := conn
	if o.image != o.runtime {
		if imageConn, err = dial(o.image, o.timeout); err != nil {
			return fmt.Errorf("connect to %s: %v", o.image, err)
		}
		defer imageConn.Close()
	}
	rt := cri.NewRuntimeServiceClient(conn)
	img := cri.NewImageServiceClient(imageConn)
	ctx := context.Background()
	call := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, o.timeout) }
	// Pulls take as long as they take, as crictl's do.
	pullCtx := ctx

	cmd, args := o.args[0], o.args[1:]
	args, quiet, all := flags(args)
	c, cancel := call()
	defer cancel()
	switch cmd {
	case "version":
		v, err := rt.Version(c, &cri.VersionRequest{})
		if err != nil {
			return err
		}
		fmt.Printf("Version:  0.1.0\nRuntimeName:  %s\nRuntimeVersion:  %s\nRuntimeApiVersion:  %s\n", v.RuntimeName, v.RuntimeVersion, v.RuntimeApiVersion)
	case "info":
		s, err := rt.Status(c, &cri.StatusRequest{Verbose: true})
		if err != nil {
			return err
		}
		return printJSON(map[string]interface{}{"status": s.Status, "info": s.Info})
	case "pods":
		r, err := rt.ListPodSandbox(c, &cri.ListPodSandboxRequest{})
		if err != nil {
			return err
		}
		for _, p := range r.Items {
			if quiet {
				fmt.Println(p.Id)
			} else {
				fmt.Printf("%s\t%s\t%s\t%s\n", trunc(p.Id), p.State, p.Metadata.Name, p.Metadata.Namespace)
			}
		}
	case "ps":
		filter := &cri.ContainerFilter{}
		if !all {
			filter.State = &cri.ContainerStateValue{State: cri.ContainerState_CONTAINER_RUNNING}
		}
		r, err := rt.ListContainers(c, &cri.ListContainersRequest{Filter: filter})
		if err != nil {
			return err
		}
		for _, k := range r.Containers {
			if quiet {
				fmt.Println(k.Id)
			} else {
				fmt.Printf("%s\t%s\t%s\t%s\t%s\n", trunc(k.Id), k.Image.Image, k.State, k.Metadata.Name, trunc(k.PodSandboxId))
			}
		}
	case "stopp", "rmp":
		if len(args) == 0 {
			return fmt.Errorf("%s needs a pod sandbox ID", cmd)
		}
		for _, id := range args {
			if cmd == "stopp" {
				_, err = rt.StopPodSandbox(c, &cri.StopPodSandboxRequest{PodSandboxId: id})
			} else {
				_, err = rt.RemovePodSandbox(c, &cri.RemovePodSandboxRequest{PodSandboxId: id})
			}
			if err != nil {
				return fmt.Errorf("%s %s: %v", cmd, id, err)
			}
			fmt.Println(map[string]string{"stopp": "Stopped sandbox ", "rmp": "Removed sandbox "}[cmd] + id)
		}
	case "pull":
		if len(args) != 1 {
			return fmt.Errorf("pull needs one image")
		}
		r, err := img.PullImage(pullCtx, &cri.PullImageRequest{Image: &cri.ImageSpec{Image: args[0]}})
		if err != nil {
			return fmt.Errorf("pulling image %q: %v", args[0], err)
		}
		fmt.Println("Image is up to date for " + r.ImageRef)
	case "inspecti":
		if len(args) != 1 {
			return fmt.Errorf("inspecti needs one image")
		}
		r, err := img.ImageStatus(c, &cri.ImageStatusRequest{Image: &cri.ImageSpec{Image: args[0]}, Verbose: true})
		if err != nil {
			return err
		}
		if r.Image == nil {
			return fmt.Errorf("no such image %q present", args[0])
		}
		return printJSON(map[string]interface{}{"status": r.Image, "info": r.Info})
	case "images":
		r, err := img.ListImages(c, &cri.ListImagesRequest{})
		if err != nil {
			return err
		}
		for _, i := range r.Images {
			if quiet {
				fmt.Println(i.Id)
				continue
			}
			for _, t := range i.RepoTags {
				fmt.Printf("%s\t%s\n", t, trunc(strings.TrimPrefix(i.Id, "sha256:")))
			}
		}
	default:
		return fmt.Errorf("command %q is not implemented by this stand-in for crictl", cmd)
	}
	return nil
}

func trunc(id string) string {
	if len(id) > 13 {
		return id[:13]
	}
	return id
}

func printJSON(v interface{}) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}
