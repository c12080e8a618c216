package check

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

// compose loads one level-0 compose file the way `docker compose config`
// would, and checks that what `docker compose build` needs is on disk.
func (c *checker) compose(file string) {
	dir := filepath.Dir(file)
	var unset []string
	opts := []cli.ProjectOptionsFn{cli.WithWorkingDirectory(dir), cli.WithLoadOptions(func(o *loader.Options) {
		if o.Interpolate != nil { // nil while only the files are read
			o.Interpolate.Substitute = recordUnset(&unset)
		}
	})}
	// Only .env.example, never the OS environment or a local .env, so the
	// result is the same on every machine.
	if example := filepath.Join(dir, ".env.example"); isFile(example) {
		opts = append(opts, cli.WithEnvFiles(example), cli.WithDotEnv)
	}
	fail := func(field, msg string) {
		c.add(Finding{File: c.rel(file), Object: "compose", Field: field, Message: msg})
	}
	po, err := cli.NewProjectOptions([]string{file}, opts...)
	if err != nil {
		fail("", err.Error())
		return
	}
	project, err := po.LoadProject(context.Background())
	if err != nil {
		field, msg := composeErrorField(err.Error(), file)
		fail(field, msg)
		c.logf("checked %s: compose file does not load", c.rel(dir))
		return
	}
	for _, v := range slices.Compact(slices.Sorted(slices.Values(unset))) {
		fail("${"+v+"}", "variable "+v+" is not set and has no default: use ${"+v+":-value} or set it in .env.example")
	}
	for _, name := range project.ServiceNames() {
		b := project.Services[name].Build
		if b == nil || isRemote(b.Context) {
			continue
		}
		f := Finding{File: c.rel(file), Object: "service/" + name}
		if !isDir(b.Context) {
			f.Field, f.Message = "services."+name+".build.context", fmt.Sprintf("build context %q does not exist", c.rel(b.Context))
			c.add(f)
			continue
		}
		if b.DockerfileInline != "" {
			continue
		}
		df := b.Dockerfile
		if df == "" {
			df = "Dockerfile"
		}
		if !filepath.IsAbs(df) {
			df = filepath.Join(b.Context, df)
		}
		if !isFile(df) {
			f.Field, f.Message = "services."+name+".build.dockerfile", fmt.Sprintf("Dockerfile %q does not exist", c.rel(df))
			c.add(f)
		}
	}
	c.logf("checked %s: %d services", c.rel(dir), len(project.Services))
}

// recordUnset substitutes variables as compose does, but instead of
// logging a warning for a variable that is unset and has no default (it
// would silently become ""), it records its name: level-0 must run as is.
func recordUnset(unset *[]string) func(string, template.Mapping) (string, error) {
	replace := func(s string, m template.Mapping, cfg *template.Config) (string, error) {
		v, applied, err := template.DefaultReplacementAppliedFunc(s, m, cfg)
		if err == nil && !applied {
			*unset = append(*unset, strings.Trim(s, "${}"))
		}
		return v, err
	}
	return func(s string, m template.Mapping) (string, error) {
		return template.SubstituteWithOptions(s, m, template.WithoutLogging, template.WithReplacementFunction(replace))
	}
}

func isRemote(context string) bool {
	return strings.Contains(context, "://") || strings.HasPrefix(context, "git@")
}

// Compose errors name the field in a few shapes:
// "validating FILE: services.web.portz false schema",
// "error while interpolating services.api.environment.Y: required variable ...",
// "services.web.ports: invalid type ...".
var (
	composeValidating = regexp.MustCompile(`^validating [^:]+: ((?:services|networks|volumes|configs|secrets|name)\S*) (.*)$`)
	composeFieldFirst = regexp.MustCompile(`^(?:error while interpolating )?((?:services|networks|volumes|configs|secrets)\.\S+?): (.*)$`)
)

// composeErrorField splits a compose-go error into the field and the message.
// Port strings are parsed after validation and their errors name no field,
// so those are found again in the raw file.
func composeErrorField(msg, file string) (field, rest string) {
	if m := composeValidating.FindStringSubmatch(msg); m != nil {
		if m[2] == "false schema" { // jsonschema's words for a key the schema does not allow
			m[2] = "not allowed by the compose schema (unknown key?)"
		}
		return m[1], m[2]
	}
	if m := composeFieldFirst.FindStringSubmatch(msg); m != nil {
		return m[1], m[2]
	}
	if strings.Contains(msg, "Port") || strings.Contains(msg, "port") {
		if f := badPortField(file); f != "" {
			return f, msg
		}
	}
	return "", msg
}

// badPortField returns the path of the first short-syntax port that does not parse.
func badPortField(file string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	var doc struct {
		Services map[string]struct {
			Ports []any `json:"ports"`
		} `json:"services"`
	}
	if yaml.Unmarshal(data, &doc) != nil {
		return ""
	}
	names := make([]string, 0, len(doc.Services))
	for n := range doc.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for i, p := range doc.Services[n].Ports {
			if s, ok := p.(string); ok {
				if _, err := types.ParsePortConfig(s); err != nil {
					return "services." + n + ".ports[" + strconv.Itoa(i) + "]"
				}
			}
		}
	}
	return ""
}
