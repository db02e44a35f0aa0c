package config

import (
	"os"
	"strings"
)

// CheckSecret records at path where one secret (what: "token",
// "password", …) comes from is wrong: it must be a file that exists
// (<what>_file) or an environment variable that is set (<what>_env), not
// both, and the variable must not carry EnvPrefix, which the loader reads
// as a setting. Giving neither is not an error here.
func CheckSecret(errs *Errors, path, what, file, env string) {
	switch {
	case file != "" && env != "":
		errs.Addf(path+"."+what+"_file", "give %s_file or %s_env, not both", what, what)
	case file != "":
		if _, err := os.Stat(file); err != nil {
			errs.Addf(path+"."+what+"_file", "%v", err)
		}
	case env != "":
		if strings.HasPrefix(env, EnvPrefix) {
			errs.Addf(path+"."+what+"_env", "%s starts with %s, which the configuration loader reads as a setting: name the variable otherwise", env, EnvPrefix)
		} else if v, ok := os.LookupEnv(env); !ok || strings.TrimSpace(v) == "" {
			errs.Addf(path+"."+what+"_env", "the environment variable %s is not set or empty", env)
		}
	}
}
