// Command benchfloor is the convergence benchmark's Go floor: a plain client-go program that does the writes the
// controller does for one ImagePullSecret (create a Secret in every namespace, add it to every ServiceAccount with a
// resourceVersion-guarded JSON patch), at a given concurrency and with no client-side rate limit. It prints one JSON
// line: the seconds it took and the requests it sent.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type result struct {
	Seconds  float64 `json:"seconds"`
	Requests int64   `json:"requests"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	prefix := flag.String("prefix", "bench-", "only namespaces whose name starts with this")
	secret := flag.String("secret", "", "name of the Secret to create and add")
	concurrency := flag.Int("concurrency", 16, "requests in flight")
	flag.Parse()
	if *kubeconfig == "" || *secret == "" {
		fmt.Fprintln(os.Stderr, "usage: benchfloor --kubeconfig FILE --secret NAME [--prefix bench-] [--concurrency 16]")
		os.Exit(2)
	}
	if err := run(*kubeconfig, *prefix, *secret, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(kubeconfig, prefix, secret string, concurrency int) error {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	// A negative QPS turns client-go's rate limiter off: the floor is the apiserver's, not the client's.
	config.QPS = -1
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var requests atomic.Int64
	started := time.Now()

	byNamespace := map[string][]corev1.ServiceAccount{}
	var namespaces []string
	options := metav1.ListOptions{Limit: 500}
	for {
		page, err := client.CoreV1().ServiceAccounts("").List(ctx, options)
		requests.Add(1)
		if err != nil {
			return err
		}
		for _, sa := range page.Items {
			if !strings.HasPrefix(sa.Namespace, prefix) {
				continue
			}
			if _, seen := byNamespace[sa.Namespace]; !seen {
				namespaces = append(namespaces, sa.Namespace)
			}
			byNamespace[sa.Namespace] = append(byNamespace[sa.Namespace], sa)
		}
		if page.Continue == "" {
			break
		}
		options.Continue = page.Continue
	}

	work := make(chan string)
	errs := make(chan error, concurrency)
	var wg sync.WaitGroup
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ns := range work {
				if err := converge(ctx, client, &requests, ns, secret, byNamespace[ns]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, ns := range namespaces {
		work <- ns
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(result{Seconds: time.Since(started).Seconds(), Requests: requests.Load()})
}

// converge creates the Secret in one namespace and adds it to each of its ServiceAccounts.
func converge(ctx context.Context, client kubernetes.Interface, requests *atomic.Int64, ns, secret string, accounts []corev1.ServiceAccount) error {
	_, err := client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secret},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{}}`)},
	}, metav1.CreateOptions{})
	requests.Add(1)
	if err != nil {
		return err
	}
	for _, sa := range accounts {
		if err := addEntry(ctx, client, requests, sa, secret); apierrors.IsConflict(err) || apierrors.IsInvalid(err) {
			// Lost a race with the controller's own patch: read and retry, as a client must.
			fresh, getErr := client.CoreV1().ServiceAccounts(ns).Get(ctx, sa.Name, metav1.GetOptions{})
			requests.Add(1)
			if getErr != nil {
				return getErr
			}
			err = addEntry(ctx, client, requests, *fresh, secret)
			if err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
	}
	return nil
}

func addEntry(ctx context.Context, client kubernetes.Interface, requests *atomic.Int64, sa corev1.ServiceAccount, secret string) error {
	add := map[string]any{"op": "add", "path": "/imagePullSecrets/-", "value": map[string]string{"name": secret}}
	if sa.ImagePullSecrets == nil {
		add = map[string]any{"op": "add", "path": "/imagePullSecrets", "value": []map[string]string{{"name": secret}}}
	}
	patch, err := json.Marshal([]map[string]any{{"op": "replace", "path": "/metadata/resourceVersion", "value": sa.ResourceVersion}, add})
	if err != nil {
		return err
	}
	_, err = client.CoreV1().ServiceAccounts(sa.Namespace).Patch(ctx, sa.Name, types.JSONPatchType, patch, metav1.PatchOptions{})
	requests.Add(1)
	return err
}
