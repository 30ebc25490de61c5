// Renders testdata/cases.json with Go's text/template (missingkey=error) and writes
// testdata/golden.json, the expectations crates/template/tests/golden.rs compares against.
//
// The Sprig functions ESO exposes are written here from Sprig v3's documented semantics (the
// module cannot be fetched offline); toYaml/fromYaml are ESO's, on sigs.k8s.io/yaml.
// Run from this directory: go run . ../cases.json ../golden.json
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"unicode/utf8"

	"sigs.k8s.io/yaml"
)

type testCase struct {
	Name     string            `json:"name"`
	Template string            `json:"template"`
	Data     map[string]string `json:"data,omitempty"`
}

type cases struct {
	Data  map[string]string `json:"data"`
	Cases []testCase        `json:"cases"`
}

type result struct {
	Name      string  `json:"name"`
	Output    *string `json:"output,omitempty"`
	OutputB64 string  `json:"output_b64,omitempty"`
	Error     string  `json:"error,omitempty"`
}

func strval(v interface{}) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case error:
		return v.Error()
	case fmt.Stringer:
		return v.String()
	default:
		return fmt.Sprintf("%v", v)
	}
}

func empty(v interface{}) bool {
	g := reflect.ValueOf(v)
	if !g.IsValid() {
		return true
	}
	switch g.Kind() {
	case reflect.Array, reflect.Slice, reflect.Map, reflect.String:
		return g.Len() == 0
	case reflect.Bool:
		return !g.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return g.Int() == 0
	case reflect.Float32, reflect.Float64:
		return g.Float() == 0
	case reflect.Struct:
		return false
	default:
		return g.IsNil()
	}
}

func strslice(v interface{}) []string {
	switch v := v.(type) {
	case []string:
		return v
	case []interface{}:
		out := []string{}
		for _, s := range v {
			if s != nil {
				out = append(out, strval(s))
			}
		}
		return out
	case nil:
		return []string{}
	default:
		return []string{strval(v)}
	}
}

func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

var funcs = template.FuncMap{
	"b64enc": func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"b64dec": func(s string) string {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return err.Error()
		}
		return string(b)
	},
	"toJson": func(v interface{}) string { b, _ := json.Marshal(v); return string(b) },
	"toPrettyJson": func(v interface{}) string {
		b, _ := json.MarshalIndent(v, "", "  ")
		return string(b)
	},
	"fromJson": func(s string) interface{} {
		var out interface{}
		_ = json.Unmarshal([]byte(s), &out)
		return out
	},
	"toYaml": func(v interface{}) string {
		b, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(b), "\n")
	},
	"fromYaml": func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	},
	"default": func(d interface{}, given ...interface{}) interface{} {
		if empty(given) || empty(given[0]) {
			return d
		}
		return given[0]
	},
	"quote": func(args ...interface{}) string {
		out := []string{}
		for _, a := range args {
			if a != nil {
				out = append(out, strconv.Quote(strval(a)))
			}
		}
		return strings.Join(out, " ")
	},
	"squote": func(args ...interface{}) string {
		out := []string{}
		for _, a := range args {
			if a != nil {
				out = append(out, fmt.Sprintf("'%v'", a))
			}
		}
		return strings.Join(out, " ")
	},
	"trim":       strings.TrimSpace,
	"trimPrefix": func(p, s string) string { return strings.TrimPrefix(s, p) },
	"trimSuffix": func(p, s string) string { return strings.TrimSuffix(s, p) },
	"upper":      strings.ToUpper,
	"lower":      strings.ToLower,
	"replace":    func(o, n, s string) string { return strings.ReplaceAll(s, o, n) },
	"indent":     indent,
	"nindent":    func(n int, s string) string { return "\n" + indent(n, s) },
	"split": func(sep, s string) map[string]string {
		out := map[string]string{}
		for i, p := range strings.Split(s, sep) {
			out["_"+strconv.Itoa(i)] = p
		}
		return out
	},
	"splitList": func(sep, s string) []string { return strings.Split(s, sep) },
	"join":      func(sep string, v interface{}) string { return strings.Join(strslice(v), sep) },
	"regexReplaceAll": func(re, s, repl string) string {
		return regexp.MustCompile(re).ReplaceAllString(s, repl)
	},
	"dict": func(v ...interface{}) map[string]interface{} {
		out := map[string]interface{}{}
		for i := 0; i < len(v); i += 2 {
			k := strval(v[i])
			if i+1 >= len(v) {
				out[k] = ""
				continue
			}
			out[k] = v[i+1]
		}
		return out
	},
	"get": func(d map[string]interface{}, k string) interface{} {
		if v, ok := d[k]; ok {
			return v
		}
		return ""
	},
	"hasKey":    func(d map[string]interface{}, k string) bool { _, ok := d[k]; return ok },
	"sha256sum": func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) },
	"list":      func(v ...interface{}) []interface{} { return v },
}

func render(name, src string, data map[string]string) result {
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(src)
	if err != nil {
		return result{Name: name, Error: err.Error()}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return result{Name: name, Error: err.Error()}
	}
	if utf8.Valid(buf.Bytes()) {
		s := buf.String()
		return result{Name: name, Output: &s}
	}
	return result{Name: name, OutputB64: base64.StdEncoding.EncodeToString(buf.Bytes())}
}

func main() {
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var cs cases
	if err := json.Unmarshal(raw, &cs); err != nil {
		panic(err)
	}
	out := []result{}
	for _, c := range cs.Cases {
		data := map[string]string{}
		for k, v := range cs.Data {
			data[k] = v
		}
		for k, v := range c.Data {
			data[k] = v
		}
		out = append(out, render(c.Name, c.Template, data))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
	if err := os.WriteFile(os.Args[2], b.Bytes(), 0o644); err != nil {
		panic(err)
	}
}
